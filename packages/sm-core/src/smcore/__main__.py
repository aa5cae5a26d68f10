from smcore.cli import main

main()
