import os

import pytest
import torch

# Two cores are shared with other work: fixed thread count keeps timings and results stable.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
