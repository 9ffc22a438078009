"""The entry module: ``register(registry)`` and the four hooks of plugin API 1.2.

This is the file a Voice Creator Studio host imports (the ``vcs.plugins``
entry point names it).  It only wires things together; the work lives in
private modules so that each can be read and tested on its own:

* ``_validate`` / ``_config``: what counts as valid input, with messages
  that name the offending field;
* ``_dataset``: LJSpeech on disk and Dataset objects;
* ``_profile``: what training measures and the voice profile file;
* ``_espeak``: the synthesiser subprocess and its calibration;
* ``_audio``: WAV files, resampling, F0 and speaking-time measurements.

Contract reminders (SPEC 3-5) that shaped this file:

* every path in and out is POSIX and relative to ``registry.workspace``;
* invalid input raises ``ValueError`` naming what is wrong, anything else
  escaping a hook is a defect;
* keys a hook does not know are ignored, so a newer host can send more;
* results are plain JSON (str, int, float, dict, list).
"""

from __future__ import annotations

import logging
import os
import uuid
from array import array
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import _audio, _espeak
from ._config import SAMPLE_RATES, VOICES, Config, parse_config
from ._dataset import check_dataset, read_ljspeech
from ._profile import Profile, load_profile, save_profile, train_profile
from ._validate import as_int, as_number, check_text, resolve

__all__ = ["Engine", "register"]

#: Neutral voice_config values (SPEC 5 ranges in the comments).
DEFAULT_RATE = 1.0  # 0.25-4.0, a multiple of the voice's normal speed
DEFAULT_PITCH = 0.0  # -12-12 semitones relative to the voice (or trained speaker)


class Engine:
    """The plugin's state for one registry: the workspace and ``init``'s options.

    The hooks are bound methods, so two hosts (or two workspaces) registering
    the plugin in one process never share state.
    """

    def __init__(self, workspace: Path, settings: Mapping[str, Any],
                 logger: logging.Logger) -> None:
        self.workspace = workspace
        self.settings = settings
        self.logger = logger
        self.config = Config()

    # -- init -------------------------------------------------------------

    def init(self, config: object) -> None:
        """Accept the options described by ``config_schema.json``."""
        self.config = parse_config(config)

    # -- preprocess -------------------------------------------------------

    def preprocess(self, dataset_dir: object) -> dict[str, Any]:
        """Validate an LJSpeech dataset and describe it as a Dataset (SPEC 5).

        Texts come back normalised (NFC, single spaces); durations come from
        the WAV headers.  Nothing is written: the dataset is read-only.
        """
        return read_ljspeech(self.workspace, dataset_dir)

    # -- train ------------------------------------------------------------

    def train(self, dataset: object, progress_cb: Callable[[float, str], object]
              ) -> dict[str, Any]:
        """Measure the dataset's speaker and write a voice profile under ``models/``.

        The whole Dataset is checked before the first progress event, so a
        bad one fails fast and leaves nothing behind.
        """
        items = check_dataset(self.workspace, dataset)
        progress_cb(0.0, f"analysing {len(items)} recording(s)")
        profile = train_profile(items, voice=self.config.default_voice, progress=progress_cb)
        rel = save_profile(self.workspace, profile)
        f0 = f"{profile.f0_hz:.1f} Hz" if profile.f0_hz else "no voiced speech"
        progress_cb(100.0, f"voice profile written: F0 {f0}, tempo x{profile.tempo:.2f}")
        self.logger.info("trained %s from %d file(s): F0 %s, %.2f words/s", rel,
                         profile.files, f0, profile.words_per_second)
        return {"model": rel, "metrics": profile.metrics()}

    # -- synthesize -------------------------------------------------------

    def _default_rate(self) -> int:
        if self.config.default_sample_rate is not None:
            return self.config.default_sample_rate
        wanted = self.settings.get("default_sample_rate")
        if not isinstance(wanted, bool) and isinstance(wanted, int) and wanted in SAMPLE_RATES:
            return wanted
        return 22050

    def synthesize(self, text: object, voice_config: object) -> dict[str, Any]:
        """Speak ``text`` into a WAV under ``outputs/``; return the Result (SPEC 5).

        Pitch: the target F0 is the trained speaker's (or the voice's own)
        shifted by ``pitch`` semitones, then mapped to espeak-ng's ``-p``.
        Speed: espeak-ng's default times the trained tempo times ``rate``.
        espeak-ng cannot go below 80 words/minute, so rates under ~0.46
        without a model all sound like 0.46.
        """
        text = check_text(text)
        if not isinstance(voice_config, Mapping):
            raise ValueError("voice_config must be an object (every key optional)")
        voice = voice_config.get("voice", self.config.default_voice)
        if not isinstance(voice, str) or voice not in VOICES:
            raise ValueError(f"voice_config.voice must be one of {', '.join(VOICES)}; "
                             f"got {voice!r}")
        rate = as_number(voice_config.get("rate", DEFAULT_RATE), "voice_config.rate", 0.25, 4.0)
        pitch = as_number(voice_config.get("pitch", DEFAULT_PITCH), "voice_config.pitch",
                          -12.0, 12.0)
        sample_rate = self._default_rate()
        if "sample_rate" in voice_config:
            sample_rate = as_int(voice_config["sample_rate"], "voice_config.sample_rate")
            if sample_rate not in SAMPLE_RATES:
                raise ValueError(f"voice_config.sample_rate must be one of "
                                 f"{', '.join(map(str, SAMPLE_RATES))}; got {sample_rate}")
        profile: Profile | None = None
        model = voice_config.get("model")
        if model is not None:
            path, rel = resolve(self.workspace, model, "voice_config.model", kind="file")
            profile = load_profile(path, rel)

        base_f0 = profile.f0_hz if profile and profile.f0_hz else _espeak.DEFAULT_F0_HZ
        pcm, espeak_rate = _espeak.speak(
            text, voice=voice,
            wpm=_espeak.wpm_for(profile.tempo if profile else 1.0, rate),
            pitch=_espeak.pitch_for_f0(base_f0 * 2.0 ** (pitch / 12.0)),
            word_gap=round(self.config.word_gap_ms / 10),
            amplitude=self.config.amplitude)
        pcm = _audio.resample(pcm, espeak_rate, sample_rate)
        return self._write_output(pcm, sample_rate)

    def _write_output(self, pcm: array[int], sample_rate: int) -> dict[str, Any]:
        """Write under a hidden name, then rename: no reader sees a half-written WAV."""
        outputs = self.workspace / "outputs"
        outputs.mkdir(exist_ok=True)
        rel = f"outputs/espeak-{uuid.uuid4().hex[:16]}.wav"
        partial = outputs / f".{uuid.uuid4().hex}.partial"
        try:
            _audio.write_pcm16(partial, pcm, sample_rate)
            os.replace(partial, self.workspace / rel)
        finally:  # a full disk or the host's file-size limit must not leave debris
            partial.unlink(missing_ok=True)
        return {"audio": rel, "sample_rate": sample_rate,
                "duration_s": len(pcm) / sample_rate}


def register(registry: Any) -> dict[str, Callable[..., Any]]:
    """Plugin entry point (SPEC 3): return the hooks this plugin implements.

    Only ``workspace``, ``settings`` and ``logger`` are used.  Nothing else
    happens here (no subprocess, no file access) so that registering is
    instant and cannot fail on a machine where espeak-ng is missing; the
    hooks say so clearly when they need it.
    """
    engine = Engine(Path(registry.workspace), registry.settings, registry.logger)
    return {"init": engine.init, "preprocess": engine.preprocess, "train": engine.train,
            "synthesize": engine.synthesize}
