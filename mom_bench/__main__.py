from mom_bench.cli import main

main()
