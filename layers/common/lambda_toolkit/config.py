"""Typed configuration read from environment variables, validated once at cold start.

Each function declares a pydantic model whose field names are the environment variable names that
template.yaml sets; ``load_config`` validates it when the handler module is imported, so a missing or
malformed variable fails the cold start with one clear message instead of failing records one by one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from lambda_toolkit.errors import ConfigurationError


class FunctionConfig(BaseModel):
    """Base for configuration models: immutable, and unknown variables are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


ConfigT = TypeVar("ConfigT", bound=FunctionConfig)


def load_config(model: type[ConfigT], environ: Mapping[str, str] | None = None) -> ConfigT:
    source = os.environ if environ is None else environ
    # An empty variable counts as unset: `sam local` passes "" for a variable whose template value it
    # cannot resolve (an Fn::If that CloudFormation would turn into AWS::NoValue).
    try:
        return model.model_validate({name: value for name, value in source.items() if value != ""})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}" for issue in error.errors()
        )
        raise ConfigurationError(f"{model.__name__} is invalid: {problems}") from error
