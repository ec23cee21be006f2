"""Where every value of the from-scratch workbook lives: row and column numbers only.

A step sheet ("Step s") holds one step of SGD on its batch, every picture a row:
  picture table  rows TOP .. TOP+batch−1: number, label, guess, right?, loss, max, Σ, logits z,
                 EXP(z − max), δ = p − onehot, and the 144 ReLU activations (filter by filter).
  new weights    rows WEIGHTS+1 ..: the dense kernel transposed (class k a row of 144, under the
                 activations it multiplies), its bias beside it, the 4 filters 3×3 and their biases.
  δ transposed   (class rows × picture columns): so ∂loss/∂activation is one SUMPRODUCT of a
                 kernel column and a δ column.
  ∂loss/∂conv    one 6×6 block per picture and filter: a filter's gradient is one SUMPRODUCT per
                 picture of the picture's shifted 6×6 window and this block.
The "Start" sheet holds the initial weights at the same addresses, so step 1 reads it as step s
reads step s−1. Every gradient is summed inside the weight cell: no per-picture weight gradients."""

from __future__ import annotations

from dataclasses import dataclass

from ..layout import column_letter
from .recipe import CLASSES, FILTERS, FLAT, KERNEL, OUT

TOP = 6                                   # first picture row of a step (and of the Held out sheet)
NUMBER, LABEL, GUESS, RIGHT, LOSS, MAX, TOTAL = range(1, 8)
LOGITS = 8                                # H..Q
EXPS = LOGITS + CLASSES                   # R..AA
DELTAS = EXPS + CLASSES                   # AB..AK
DENSE_BIAS = DELTAS + CLASSES + 1         # AM (after an empty AL): in the weight rows, each class's bias
ACTS = DENSE_BIAS + 1                     # AN..GA: activation j = filter·36 + row·6 + column
FILTER_COL = LOGITS                       # filter f at columns FILTER_COL + 4f .. + 2
BLOCK_COL = LOGITS                        # δ transposed and ∂loss/∂conv start here, right of the table's wide columns
DATA_TOP, DATA_STRIDE, DATA_PIXELS = 2, 8, 3   # Data: picture m (0-based) at rows 2 + 8m .., columns C..J


def col(number: int) -> str:
    return column_letter(number)


@dataclass(frozen=True)
class StepLayout:
    """Addresses on a step sheet (and, for the weights, on Start) for a batch size."""

    batch: int

    @property
    def last(self) -> int:                # last picture row
        return TOP + self.batch - 1

    @property
    def weights(self) -> int:             # heading row of the new weights; class k at weights + 1 + k
        return self.last + 2

    def dense_row(self, k: int) -> int:
        return self.weights + 1 + k

    def filter_cell(self, f: int, u: int, v: int) -> tuple[int, int]:
        return self.weights + 1 + u, FILTER_COL + 4 * f + v

    def filter_bias_cell(self, f: int) -> tuple[int, int]:
        return self.weights + 1 + KERNEL, FILTER_COL + 4 * f

    def filter_range(self, f: int) -> str:
        top, left = self.filter_cell(f, 0, 0)
        return f"${col(left)}${top}:${col(left + KERNEL - 1)}${top + KERNEL - 1}"

    @property
    def transposed(self) -> int:          # first row of δ transposed: class k at transposed + k, picture i at column BLOCK_COL + i
        return self.weights + KERNEL + 5

    @property
    def conv(self) -> int:                # first row of ∂loss/∂conv blocks
        return self.transposed + CLASSES + 3

    def conv_cell(self, i: int, f: int, p: int, q: int) -> tuple[int, int]:
        return self.conv + OUT * i + p, BLOCK_COL + (OUT + 1) * f + q


def data_row(picture: int) -> int:
    """First row of a picture (0-based number) on the Data sheet."""
    return DATA_TOP + DATA_STRIDE * picture


def activation(j: int) -> tuple[int, int, int]:
    """(filter, row, column) of flattened activation j."""
    f, rest = divmod(j, OUT * OUT)
    return (f, *divmod(rest, OUT))


assert FLAT == FILTERS * OUT * OUT
