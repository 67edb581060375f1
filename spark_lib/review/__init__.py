"""The data steward's loop (issue 18): what a person reviews, what they answered, and what their answers measure.

One module per concern, imported where used (``from spark_lib.review import estimate``):

- :mod:`.estimate`: precision without ground truth, from a stratified sample of the pairs a run declares
  matches (``gold.review_sample``) and the steward's decisions (``ops.review_decisions``);
- :mod:`.gating`: a new model's figures on the labelled pairs against the champion's, and whether it is promoted.
"""
