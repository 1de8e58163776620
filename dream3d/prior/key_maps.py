"""Renaming state-dict keys between two layouts of one network, block by block.

A ``KeyMap`` is a list of ``Block``s: a module prefix in the source layout, the same module's
prefix in the target layout, and renames of the parameters inside it (e.g. an LDM ResBlock's
``in_layers.0`` is a diffusers ResnetBlock2D's ``norm1``). Each key goes to the block with the
longest matching prefix; a key that matches no block is an error, so a conversion either
accounts for every tensor or says which ones it could not place. ``KeyMap.inverse`` maps back.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass(frozen=True)
class Block:
    """One module: its prefix in the source layout, in the target layout, and inner renames."""

    source: str
    target: str
    inner: tuple[tuple[str, str], ...] = ()

    def rename(self, key: str) -> str:
        rest = key[len(self.source):].lstrip(".")
        for old, new in self.inner:
            if rest == old or rest.startswith(old + "."):
                rest = new + rest[len(old):]
                break
        return f"{self.target}.{rest}" if rest else self.target

    def inverse(self) -> "Block":
        return Block(self.target, self.source, tuple((new, old) for old, new in self.inner))


@dataclass
class KeyMap:
    """Blocks of a network; ``convert`` renames a state dict from their source to their target layout."""

    blocks: list[Block] = field(default_factory=list)

    def add(self, source: str, target: str, inner: tuple[tuple[str, str], ...] = ()) -> None:
        self.blocks.append(Block(source, target, inner))

    def block_of(self, key: str) -> Block | None:
        found = [b for b in self.blocks if key == b.source or key.startswith(b.source + ".")]
        return max(found, key=lambda b: len(b.source)) if found else None

    def convert(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Every tensor of ``state`` under its target name; ``KeyError`` lists keys no block holds."""
        out, unplaced = {}, []
        for key, value in state.items():
            block = self.block_of(key)
            if block is None:
                unplaced.append(key)
            else:
                out[block.rename(key)] = value
        if unplaced:
            raise KeyError(f"{len(unplaced)} keys match no known module, e.g. {sorted(unplaced)[:5]}")
        return out

    def inverse(self) -> "KeyMap":
        return KeyMap([b.inverse() for b in self.blocks])


def strip_prefix(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries of ``state`` under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def add_prefix(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {prefix + k: v for k, v in state.items()}
