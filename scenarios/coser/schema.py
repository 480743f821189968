"""The CoSER data row (docs/tasks.md#coser): a scene from a book, its cast and the book's dialogue.

The task fields sit under ``circumstance`` (an object or a JSON string); ``wo_thought``,
``continue_from`` and ``split`` are optional top-level fields. Aliases accepted on load:
``key_characters[].thought`` for ``motivation``. A row without reference dialogue, plot summary or
profiles is rejected here, so the judge never compares a simulation with blanks.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from osim_env.data import decode_structured

DATA_SOURCE = "coser"
ENVIRONMENT = "Environment"  # the narrator's name in speaker lists and the reference dialogue


def _present(value: Any) -> Any:
    """A decoded object without its ``None`` fields: Parquet stores a column of dicts as one struct
    type, so a row carries every key of every row, ``None`` where it has none."""
    value = decode_structured(value)
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value


def _clean(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


class PlotCharacter(BaseModel):
    """A key character of the plot; its description is prepended to its profile."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""


class Plot(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    summary: str = Field(min_length=1)
    key_characters: list[PlotCharacter] = Field(default_factory=list)

    @field_validator("summary")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return _clean(value)


class DialogueLine(BaseModel):
    """One line of the book's dialogue: ``[thought]`` speech ``(action)``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    character: str = Field(min_length=1)
    message: str = Field(min_length=1)


class Motivation(BaseModel):
    """A character's private motivation in the scene (``thought`` is accepted for ``motivation``)."""

    model_config = ConfigDict(extra="ignore", frozen=True, serialize_by_alias=False)

    name: str = Field(min_length=1)
    motivation: str = Field("", validation_alias=AliasChoices("motivation", "thought"))

    @model_validator(mode="before")
    @classmethod
    def _fields(cls, value: Any) -> Any:
        return _present(value)


class Circumstance(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, serialize_by_alias=True)

    book: str = Field(min_length=1)
    plot: Plot
    character_profiles: dict[str, str] = Field(min_length=1)
    dialogues: list[DialogueLine] = Field(min_length=1)
    speaking_characters_w_env: list[str] = Field(min_length=1)
    major_characters: list[str] = Field(default_factory=list)
    key_characters: list[Motivation] = Field(default_factory=list)
    # The scene. In osim "scenario" means a whole row, so the field is "setting" in code; in data it
    # keeps the published name "scenario" (read and written), as Sotopia's does.
    setting: str = Field(
        min_length=1, validation_alias=AliasChoices("scenario", "setting"), serialization_alias="scenario"
    )

    @model_validator(mode="before")
    @classmethod
    def _fields(cls, value: Any) -> Any:
        return _present(value)

    @field_validator("plot", "character_profiles", "dialogues", "key_characters", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return _present(value)

    @field_validator("speaking_characters_w_env", "major_characters", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        value = decode_structured(value)
        if not isinstance(value, list):
            return value
        names = [str(v).strip() for v in value]
        # "environment" in any case is the narrator; every name once, in order.
        names = [ENVIRONMENT if n.lower() == ENVIRONMENT.lower() else n for n in names if n]
        return list(dict.fromkeys(names))

    @field_validator("speaking_characters_w_env")
    @classmethod
    def _with_environment(cls, names: list[str]) -> list[str]:
        return names if ENVIRONMENT in names else [*names, ENVIRONMENT]

    @field_validator("book", "setting")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return _clean(value)

    @model_validator(mode="after")
    def _cast(self) -> Circumstance:
        if not self.characters:
            raise ValueError("speaking_characters_w_env names no character besides the Environment")
        if not any(p.strip() for p in self.character_profiles.values()):
            raise ValueError("character_profiles are all blank")
        missing = [m for m in self.major_characters if not self.character_profiles.get(m, "").strip()]
        if missing:
            raise ValueError(f"major characters without a profile: {missing}")
        return self

    @property
    def characters(self) -> list[str]:
        """The speaking characters (the Environment excluded), in order."""
        return [n for n in self.speaking_characters_w_env if n != ENVIRONMENT]

    def profile(self, name: str) -> str:
        """The character's profile with its plot description (if any) in front."""
        description = next((k.description for k in self.plot.key_characters if k.name == name), "")
        return " ".join(p for p in (description.strip(), self.character_profiles.get(name, "").strip()) if p)

    def motivation(self, name: str) -> str:
        return next((k.motivation.strip() for k in self.key_characters if k.name == name), "")


class CoSERRow(BaseModel):
    """One scene: the circumstance plus the optional top-level fields."""

    model_config = ConfigDict(extra="ignore", frozen=True, serialize_by_alias=True)

    circumstance: Circumstance
    wo_thought: bool = False
    continue_from: int = Field(0, ge=0)
    split: Literal["id", "ood"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fields(cls, value: Any) -> Any:
        return _present(value)

    @field_validator("circumstance", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return _present(value)

    @model_validator(mode="after")
    def _prefix(self) -> CoSERRow:
        lines = self.circumstance.dialogues
        if self.continue_from > len(lines):
            raise ValueError(f"continue_from={self.continue_from} but the dialogue has {len(lines)} lines")
        speakers = self.circumstance.speaking_characters_w_env
        strangers = sorted({d.character for d in lines[: self.continue_from]} - set(speakers))
        if strangers:
            raise ValueError(
                f"the scripted prefix has speakers outside speaking_characters_w_env: {strangers}"
            )
        return self
