from agronom.cli import main

main()
