"""mcugen: Keras models to int8 C for microcontrollers, bit-exact."""

__version__ = "0.1.0"
