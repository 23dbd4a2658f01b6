"""Shared test settings."""

import torch

# The tests decode tiny tensors: extra threads only add overhead, most of all on a busy CI box.
torch.set_num_threads(1)
