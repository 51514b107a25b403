"""Training: for now the scratch engine's own job (LeNet-5 on Fashion-MNIST)."""
