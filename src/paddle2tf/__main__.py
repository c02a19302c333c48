from paddle2tf.app.cli import main

main()
