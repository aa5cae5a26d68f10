"""VisualProcessor: core providers (ONNX Runtime) and modules built on them and on frames."""
