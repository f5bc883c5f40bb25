from descentcheck.cli import main

main()
