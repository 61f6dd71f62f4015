"""Clean STM surfaces (embedded, simulated, user folders) and the tf.data training pipeline."""
