"""The central learner (MLE, policy-gradient and discriminator updates), the driver loop and the CLI."""
