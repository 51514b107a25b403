"""What a library's exception says, cut to the one line our messages quote."""


def first_line(error: BaseException) -> str:
    """The first line of `error`'s message ("" for an empty one): torch's and the ONNX
    checker's errors run to pages, and an error of ours stays one line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else ""
