"""Training: the estimator's training loop and export (:mod:`synthmatch.train.estimator`, torch),
its batches (:mod:`synthmatch.train.data`) and the train/validation split by item-index hash
(:mod:`synthmatch.train.split`, numpy only, shared with retrieval baselines trained on the same data).
"""
