"""Typed errors whose message is meant for the end user, in their language."""

from __future__ import annotations

from zaobot import wording


class UserFacingError(Exception):
    """An error that the bot reports to the user as a friendly message."""

    key: str = ""

    def __init__(self, **params: object) -> None:
        self.params = params
        super().__init__(self.message("en"))

    def __reduce__(self):
        # Rebuilt from its parameters, so it survives the trip back from a render worker process.
        return (_rebuild, (type(self), self.params))

    def message(self, lang: wording.Lang = "en") -> str:
        return wording.text(self.key, lang, **self.params)


def _rebuild(cls: type[UserFacingError], params: dict[str, object]) -> UserFacingError:
    return cls(**params)


class SelfieError(UserFacingError):
    """The selfie cannot be used; nothing about it is kept."""


class NotAnImage(SelfieError):
    key = "selfie.not_image"


class CorruptImage(SelfieError):
    key = "selfie.corrupt"


class ImageTooLarge(SelfieError):
    key = "selfie.too_large"


class AnimatedImage(SelfieError):
    key = "selfie.animated"


class NoFace(SelfieError):
    key = "selfie.no_face"


class MultipleFaces(SelfieError):
    key = "selfie.multiple_faces"


class FaceTooSmall(SelfieError):
    key = "selfie.face_too_small"


class FaceTurnedAway(SelfieError):
    key = "selfie.turned_away"


class EyesClosed(SelfieError):
    """The selfie's eyes are shut: the swapped face would blink through the whole clip."""

    key = "selfie.eyes_closed"


class EyeClosedOrHidden(SelfieError):
    """One eye is shut while the other is open: a wink, or hair lying over one eye."""

    key = "selfie.one_eye"


class FaceCovered(SelfieError):
    """Hair, a hand or a mask hides too much of the face to swap it well."""

    key = "selfie.face_covered"


class UnknownScene(UserFacingError):
    key = "scene.unknown"


class SceneError(Exception):
    """A scene clip cannot be added (operator-facing, not user-facing)."""
