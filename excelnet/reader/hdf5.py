"""Weights from HDF5, read defensively.

Only numbers stored inside the model file itself are read: a dataset with external raw
storage or a virtual dataset would read other files on this machine (an external file
pointing at /etc/passwd turns its bytes into "weights"), and an external link opens
another file. Each dataset's size is checked against the budget before it is read."""

from __future__ import annotations

import numpy as np

from .limits import MAX_WEIGHT_VALUES, Refused

KINDS = {"S": "text", "U": "text", "O": "variable-length data or references", "V": "compound records",
         "M": "dates", "m": "time spans"}


def _h5py():
    import h5py  # imported late: `excelnet --help` should not pay for it

    return h5py


class WeightReader:
    """Reads weight datasets one by one, refusing anything not plainly numbers in this file."""

    def __init__(self, budget: int = MAX_WEIGHT_VALUES):
        self.left = budget

    def child(self, group, key: str, where: str):
        """group[key], unless it is a link into another file."""
        link = group.get(key, getlink=True)
        if isinstance(link, _h5py().ExternalLink):
            raise Refused(f"{where} is a link into another file ({link.filename!r}); only data stored "
                          "inside the model file is read")
        return group[key]

    def array(self, dataset, where: str) -> np.ndarray:
        h5py = _h5py()
        if not isinstance(dataset, h5py.Dataset):
            raise Refused(f"{where} is not a weight array")
        if dataset.is_virtual:
            raise Refused(f"{where} is a virtual dataset whose data lives in other files; only data "
                          "stored inside the model file is read")
        if dataset.external:
            raise Refused(f"{where} keeps its data in an external file ({dataset.external[0][0]!r}); "
                          "only data stored inside the model file is read")
        kind = dataset.dtype.kind
        if kind in KINDS or h5py.check_vlen_dtype(dataset.dtype) or h5py.check_ref_dtype(dataset.dtype):
            raise Refused(f"{where} holds {KINDS.get(kind, 'variable-length data or references')}, not numbers")
        if dataset.shape is None:
            raise Refused(f"{where} holds no data")
        if dataset.size > self.left:
            raise Refused(f"{where} declares {dataset.size:,} numbers, more than the {MAX_WEIGHT_VALUES:,} "
                          "a model that fits in a workbook can have")
        self.left -= dataset.size
        return np.asarray(dataset[()])
