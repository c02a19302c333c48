"""Developer tools: the ONNX node conformance suite runner and the operator support table."""
