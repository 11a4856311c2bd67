from edgeq.cli.main import main

main()
