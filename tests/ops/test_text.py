import numpy as np
import pytest

from helpers.onnx_graphs import check_op

POOL = {"ngram_counts": [0, 3], "pool_int64s": [2, 3, 5, 2, 3, 5, 6, 3, 7]}


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("min_gram,max_skip", [(1, 0), (2, 0), (1, 2)])
def test_tf_idf_vectorizer(mode, min_gram, max_skip):
    x = np.array([[2, 3, 5, 2, 5, 6, 3, 7], [3, 3, 2, 5, 5, 2, 3, 3]], np.int32)
    attrs = {**POOL, "mode": mode, "min_gram_length": min_gram, "max_gram_length": 2,
             "max_skip_count": max_skip, "ngram_indexes": [5, 0, 1, 2, 4, 3],
             "weights": [0.5, 1.0, 2.0, 3.0, 0.25, 4.0]}
    check_op("TfIdfVectorizer", {"x": x}, attrs, opset=9)


def test_tf_idf_vectorizer_1d():
    x = np.array([2, 3, 5, 6, 3, 7, 2, 3], np.int64)
    check_op("TfIdfVectorizer", {"x": x}, {**POOL, "mode": "TF", "min_gram_length": 1, "max_gram_length": 2,
                                           "max_skip_count": 1, "ngram_indexes": [0, 1, 2, 3, 4, 5]}, opset=9)
