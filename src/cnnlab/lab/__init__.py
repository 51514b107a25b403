"""The interactive lab (`cnnlab lab`): a local web app over the same computations as the
command line: the convolution arithmetic playground first."""
