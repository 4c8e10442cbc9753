from avlib.models.classifier import KINDS, AVClassifier, AVOutput, UnimodalClassifier, build_classifier

__all__ = ["KINDS", "AVClassifier", "AVOutput", "UnimodalClassifier", "build_classifier"]
