"""Dataset-scale attribution: streamed to disk, resumable, sharded over processes.

* :func:`attribute_dataset` runs an idgrad method over a whole dataset, one block of
  examples at a time, committing each block to disk atomically;
* :func:`load_attributions` reads a run back in index order, whatever the number of
  processes that made it; :func:`merge` writes it as single memory-mapped arrays;
* :class:`BatchAttributor` is the per-batch callable for engines such as Ray Data's
  ``map_batches``;
* :class:`ArrayDataset` and :class:`ImageFolderDataset` turn ``.npy`` files and
  image folders into datasets (the ``idgrad dataset`` command uses them).

See ``docs/dataset.md`` for the commands on one machine, under ``torchrun`` and with
Ray Data.

Example:
    >>> import tempfile, torch
    >>> model = torch.nn.Linear(3, 2).eval()
    >>> with tempfile.TemporaryDirectory() as out:
    ...     _ = attribute_dataset("ig", model, torch.rand(5, 3), out, target=1,
    ...                           batch_size=2, progress=False)
    ...     load_attributions(out).attributions.shape
    (5, 3)
"""

from idgrad.dataset.array_dataset import ArrayDataset
from idgrad.dataset.batch import BatchAttributor
from idgrad.dataset.errors import DatasetError, DatasetItemError
from idgrad.dataset.image_folder import ImageFolderDataset
from idgrad.dataset.manifest import InputsChangedError, ResumeMismatchError
from idgrad.dataset.results import DatasetAttributions, load_attributions, merge
from idgrad.dataset.runner import METHODS, DatasetRun, attribute_dataset
from idgrad.dataset.settings import model_fingerprint, resolve_method
from idgrad.dataset.store import DamagedBlockError, DamagedRunError, IncompleteRunError

__all__ = [
    "METHODS",
    "ArrayDataset",
    "BatchAttributor",
    "DamagedBlockError",
    "DamagedRunError",
    "DatasetAttributions",
    "DatasetError",
    "DatasetItemError",
    "DatasetRun",
    "ImageFolderDataset",
    "IncompleteRunError",
    "InputsChangedError",
    "ResumeMismatchError",
    "attribute_dataset",
    "load_attributions",
    "merge",
    "model_fingerprint",
    "resolve_method",
]
