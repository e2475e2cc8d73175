"""Build a model together with the input data its configuration names (``init.*``)."""

from __future__ import annotations

from omegaconf import DictConfig

from sim.district.model import DistrictModel


def build_model(config: DictConfig | dict, seed: int | None = None, *, validate_config: bool = True,
                model_class: type[DistrictModel] = DistrictModel) -> DistrictModel:
    """A :class:`~sim.district.model.DistrictModel` for ``config``, with the survey ``init.survey`` names read in.

    The one way every tool builds a model: the model itself reads no files, so
    this reads and validates ``init.survey`` (:func:`sim.inputs.survey.surveyed_traits`,
    cached by path and modification time) and passes what it measured in.
    """
    survey = config["init"]["survey"]
    traits = None
    if survey:
        from sim.inputs.survey import surveyed_traits

        d = config["district"]
        traits = surveyed_traits(survey, int(d["schools"]), float(config["survey"]["noise_sd"]))
    return model_class(config, seed=seed, validate_config=validate_config, survey_traits=traits)
