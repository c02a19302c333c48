"""The one table of element types: ONNX TensorProto type → the dtype name numpy (with ml_dtypes) and TensorFlow
share. String, the FNUZ float8 types and the 4-bit types are absent: TF has no exact dtype for them."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

DTYPE_NAMES = {
    TensorProto.FLOAT: "float32", TensorProto.DOUBLE: "float64", TensorProto.FLOAT16: "float16",
    TensorProto.BFLOAT16: "bfloat16", TensorProto.INT8: "int8", TensorProto.INT16: "int16",
    TensorProto.INT32: "int32", TensorProto.INT64: "int64", TensorProto.UINT8: "uint8",
    TensorProto.UINT16: "uint16", TensorProto.UINT32: "uint32", TensorProto.UINT64: "uint64",
    TensorProto.BOOL: "bool", TensorProto.COMPLEX64: "complex64", TensorProto.COMPLEX128: "complex128",
    TensorProto.FLOAT8E4M3FN: "float8_e4m3fn", TensorProto.FLOAT8E5M2: "float8_e5m2",
}
_ML_DTYPES = ("bfloat16", "float8_e4m3fn", "float8_e5m2")  # numpy has them through ml_dtypes (TF's own package)


def element_dtype(elem_type: int) -> np.dtype:
    """The numpy dtype of an ONNX element type: the value type (ml_dtypes for bfloat16/float8), else ONNX's
    numpy storage type (int8/uint8 for the 4-bit types)."""
    name = DTYPE_NAMES.get(elem_type)
    if name in _ML_DTYPES:
        import ml_dtypes  # TensorFlow's dependency; imported only for the types that need it

        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name) if name else np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
