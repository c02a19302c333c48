from paddle2tf.cli import main

main()
