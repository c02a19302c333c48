from paddle2tf.pipeline.commands import main

main()
