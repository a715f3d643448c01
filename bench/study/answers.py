"""Reading the answer key and the participants' answer files, and the attention-check filter.

A participant who fails any attention check (or whose file lacks one) is dropped with all
of their answers: an identical pair must be answered "same", an obvious pair with the
genuine side. When a trial was answered twice (a reload mid-answer), the last answer counts.
A file with no answers at all (a participant who opened the page and sent nothing) is
excluded too and listed as such (:attr:`Screened.no_answers`), never silently lost.
"""

from __future__ import annotations

import json
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core.errors import UserError
from bench.study.design import COMPARISON, SAME

KEY_FIELDS = ("kit_id", "trials", "images", "models")
ANSWER_FIELDS = ("trial_id", "choice", "chosen")
CHOICES = ("left", "right", SAME)
TRIAL_FIELDS = ("criterion", "kind", "images", "correct")
_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 40, 40, 3, 3, 2


def _short(value: Any) -> str:
    """``value`` as a short one-line repr (a nested or huge value stays readable in a message)."""
    return _REPR.repr(value)


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise UserError(f"{path}: no such {what} file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError, a 5000-digit number
        raise UserError(f"{path}: malformed JSON ({error})") from None
    except RecursionError:
        raise UserError(f"{path}: malformed JSON (nested too deeply to read)") from None


def read_key(path: Path) -> dict[str, Any]:
    """The answer key written by ``bench study make``; clear error when absent or malformed."""
    key = _read_json(Path(path), "answer key")
    if not isinstance(key, dict) or any(name not in key for name in KEY_FIELDS):
        raise UserError(f"{path}: not a study answer key (needs {', '.join(KEY_FIELDS)})")
    trials, images, models = key["trials"], key["images"], key["models"]
    if not (
        isinstance(trials, dict)
        and isinstance(images, dict)
        and isinstance(models, list)
        and all(isinstance(t, dict) and all(f in t for f in TRIAL_FIELDS) for t in trials.values())
    ):
        raise UserError(
            f"{path}: not a study answer key (trials and images must be mappings, models a "
            f"list, every trial with {', '.join(TRIAL_FIELDS)}); write it again with "
            "`bench study make`"
        )
    return key


def read_answers(path: Path, key: dict[str, Any]) -> pd.DataFrame:
    """One participant's answers as a frame (participant_id, trial_id, choice, chosen,
    response_ms, file), checked against ``key``: same kit, known trials, chosen image shown."""
    path = Path(path)
    data = _read_json(path, "answers")
    if not isinstance(data, dict) or not isinstance(data.get("answers"), list):
        raise UserError(f"{path}: not a study answers file (no 'answers' list)")
    if data.get("kit_id") != key["kit_id"]:
        raise UserError(
            f"{path}: answers from another kit (kit_id {data.get('kit_id')!r}, "
            f"the key is for {key['kit_id']!r})"
        )
    participant = data.get("participant_id")
    if not isinstance(participant, str) or not participant:
        raise UserError(f"{path}: no participant_id")
    rows = []
    for number, answer in enumerate(data["answers"], 1):
        if not isinstance(answer, dict) or any(f not in answer for f in ANSWER_FIELDS):
            raise UserError(f"{path}: answer {number} lacks {', '.join(ANSWER_FIELDS)}")
        for name in ("trial_id", "choice", "chosen"):
            value = answer[name]
            if not (isinstance(value, str) or (name == "chosen" and value is None)):
                raise UserError(
                    f"{path}: answer {number} has {name} {_short(value)}: not a "
                    f"{'string or null' if name == 'chosen' else 'string'}"
                )
        trial = key["trials"].get(answer["trial_id"])
        if trial is None:
            raise UserError(
                f"{path}: answer {number} names trial {_short(answer['trial_id'])}, "
                "which this key does not have (answers from another kit?)"
            )
        if answer["choice"] not in CHOICES:
            raise UserError(f"{path}: answer {number} has choice {answer['choice']!r}")
        chosen = answer["chosen"]
        if (answer["choice"] == SAME) != (chosen is None) or (
            chosen is not None and chosen not in trial["images"]
        ):
            raise UserError(
                f"{path}: answer {number} chose {chosen!r}, not an image of trial "
                f"{answer['trial_id']} (answers from another kit?)"
            )
        rows.append(
            {
                "participant_id": participant,
                "trial_id": answer["trial_id"],
                "choice": answer["choice"],
                "chosen": chosen,
                "response_ms": answer.get("response_ms"),
                "file": str(path),
            }
        )
    columns = ["participant_id", "trial_id", "choice", "chosen", "response_ms", "file"]
    frame = pd.DataFrame(rows, columns=columns).drop_duplicates("trial_id", keep="last")
    frame.attrs["participant_id"] = participant
    return frame


@dataclass
class Screened:
    """Answers that passed the attention checks, and what was dropped: ``participants`` counts
    everyone, ``dropped_participants`` those who answered but failed or skipped a check (with
    ``dropped_answers`` answers), ``no_answers`` those whose file held no answer at all."""

    kept: pd.DataFrame
    participants: int
    dropped_participants: list[str]
    dropped_answers: int
    no_answers: list[str] = field(default_factory=list)


def screen(
    answers: pd.DataFrame, key: dict[str, Any], participants: list[str] | None = None
) -> Screened:
    """Drop every participant who failed or skipped an attention check; keep comparisons only.

    ``participants``: everyone who sent a file, in order (default: those with answers); one
    without any answer is excluded and listed in :attr:`Screened.no_answers`.
    """
    checks = {tid: t for tid, t in key["trials"].items() if t["kind"] != COMPARISON}
    dropped: list[str] = []
    kept = []
    answered = list(dict.fromkeys(answers["participant_id"]))
    everyone = list(dict.fromkeys([*(participants or []), *answered]))
    no_answers = sorted(set(everyone) - set(answered), key=everyone.index)
    for participant in answered:
        own = answers[answers["participant_id"] == participant]
        given = {r.trial_id: (r.chosen if r.choice != SAME else SAME) for r in own.itertuples()}
        if all(given.get(tid, "(missing)") == trial["correct"] for tid, trial in checks.items()):
            kept.append(own[~own["trial_id"].isin(list(checks))])
        else:
            dropped.append(participant)
    columns = answers.columns
    kept_frame = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=columns)
    dropped_answers = int(answers["participant_id"].isin(dropped).sum())
    return Screened(kept_frame, len(everyone), dropped, dropped_answers, no_answers)
