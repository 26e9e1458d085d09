"""The ``fashion_mnist_files`` dataset: Fashion-MNIST from the user's IDX files."""
