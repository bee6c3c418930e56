"""Section "training": how the DNA encoder was trained (or that it was reused), with its loss curves."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from planktonlm.report.context import Context
from planktonlm.report.figures import embed, new_figure
from planktonlm.report.format import Col, caption, esc, fixed, integer, missing, table, text

_CURVES = (("loss", "-", "training loss"), ("mlm_loss", "--", "masked-token loss"),
           ("contrastive_loss", ":", "contrastive loss"), ("val_loss", "o-", "validation loss"))


def plot_training_curve(ctx: Context, log: pd.DataFrame) -> Figure:
    """Losses against step, and the learning-rate schedule beside them when logged."""
    curves = [(c, line, label) for c, line, label in _CURVES if c in log.columns]
    has_lr = "lr" in log.columns and pd.to_numeric(log["lr"], errors="coerce").notna().any()
    fig, axes = new_figure(ctx.config.dpi, 10.0 if has_lr else 7.0, 3.8, 1, 2 if has_lr else 1)
    ax = axes[0]
    for column, line, label in curves:
        y = pd.to_numeric(log[column], errors="coerce")
        keep = y.notna().to_numpy()
        if not keep.any():
            continue
        ax.plot(log["step"].to_numpy()[keep], y.to_numpy()[keep], line, markersize=3.5,
                label=label, color={"val_loss": "#d6604d"}.get(column, "#0b4f6c"))
    ax.set_xlabel("Training step")
    ax.set_ylabel("Loss")
    ax.set_title("Loss")
    if curves:
        ax.legend(frameon=False)
    if has_lr:
        ax2 = axes[1]
        ax2.plot(log["step"], pd.to_numeric(log["lr"], errors="coerce"), color="#5aae61")
        ax2.set_xlabel("Training step")
        ax2.set_ylabel("Learning rate")
        ax2.set_title("Learning-rate schedule")
        ax2.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    return fig


def training_summary(log: pd.DataFrame) -> list[str]:
    """Logged steps, final (and best) validation loss, final training loss."""
    summary = [f"{integer(len(log))} logged steps up to step {integer(log.iloc[-1]['step'])}"]
    if "val_loss" in log.columns:
        val = pd.to_numeric(log["val_loss"], errors="coerce").dropna()
        if len(val):
            summary.append(f"final validation loss {fixed(val.iloc[-1], 3)} (best {fixed(val.min(), 3)})")
    if "loss" in log.columns:
        summary.append(f"final training loss {fixed(pd.to_numeric(log['loss'], errors='coerce').iloc[-1], 3)}")
    # Throughput (reads/s) stays in train_log.tsv: a timing would make the report differ between
    # two otherwise identical runs.
    return summary


def build_training(ctx: Context) -> dict:
    info = ctx.inputs.model_info or {}
    log = ctx.inputs.train_log
    blocks = []
    if info.get("reused"):
        blocks.append(caption(f"The encoder was <b>not trained in this run</b>: it was loaded from the checkpoint "
                              f"<code>{esc(info.get('checkpoint', '(path not recorded)'))}</code>, so this "
                              f"cruise's reads are embedded in the space of an earlier one."))
    elif info:
        blocks.append(caption("The encoder was trained in this run, self-supervised, on a seeded subsample of this "
                              "cruise's quality-controlled reads."))
    if info:
        facts = [(k, v) for k, v in (("Parameters", integer(info.get("n_parameters"))),
                                     ("Model SHA-256", text(info.get("sha256"))),
                                     ("Checkpoint", text(info.get("checkpoint")))) if v not in ("–",)]
        if facts:
            blocks.append(table(pd.DataFrame(facts, columns=["k", "v"]),
                                [Col("Model", "k", text=True), Col("", "v", text=True)]))
    if log is None or log.empty:
        if not info.get("reused"):
            blocks.append(missing("The training log"))
        return {"reused": bool(info.get("reused")), "summary": [], "blocks": blocks}
    log = log.copy()
    log["step"] = pd.to_numeric(log["step"], errors="coerce")
    log = log.dropna(subset=["step"]).sort_values("step", kind="mergesort")
    blocks.append(embed(plot_training_curve(ctx, log), "Encoder training curve",
                        "Training loss (how well the encoder fills in masked DNA tokens and recognises two views of "
                        "the same read) against training step; validation loss is measured on held-out reads at "
                        "some steps only. A validation curve that flattens or rises while training loss keeps "
                        "falling would signal over-fitting."))
    summary = training_summary(log)
    blocks.append(caption(esc("; ".join(summary) + ".")))
    return {"reused": bool(info.get("reused")), "summary": summary, "blocks": blocks}
