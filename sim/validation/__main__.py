from sim.validation.report import main

main()
