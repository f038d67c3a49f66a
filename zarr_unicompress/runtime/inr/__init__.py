"""INR stage: a model blob in, a :class:`.model.RuntimeModel` out (weights, fixed-point intensity
table); a chunk in, its tokens' codebook indices and the predicted voxels out, and back.

Modules: :mod:`.weights` (the weights format: named float16 arrays plus a JSON header),
:mod:`.network` (SIREN and student encoder in NumPy, the table), :mod:`.model`,
:mod:`.tokens` (chunk <-> tokens), :mod:`.codeword_search` (nearest table entries, on CPU or a
torch device), :mod:`.prediction` (indices <-> the prediction in the chunk's range).
"""
