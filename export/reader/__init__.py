"""The dedicated expression reader: training data from the styled procedural heads (and labelled
drawings), the network, its training and its ONNX export (the live side runs it with
:mod:`puppet.expression_reader`)."""
