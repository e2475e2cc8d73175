from sim.app.page import main

main()
