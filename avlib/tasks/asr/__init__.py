"""Audio-visual speech recognition: frame DNNs, feature fusion and the bilinear softmax variants."""
