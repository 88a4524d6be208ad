"""The Chainer MNIST classifier of the Step Functions tutorial, as a SageMaker BYO image."""
