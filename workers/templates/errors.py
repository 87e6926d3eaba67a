"""The one error type of the template layer, so callers can name the template and position in messages."""
from __future__ import annotations


class TemplateError(Exception):
    """A template failed to compile or render.

    ``line``/``column`` are 1-based and optional: translated Go templates only map lines best-effort, and Jinja
    reports no columns.
    """

    def __init__(self, template: str, line: int | None, column: int | None, message: str) -> None:
        self.template = template
        self.line = line
        self.column = column
        self.message = message
        super().__init__(template, line, column, message)

    def __str__(self) -> str:
        where = f'template "{self.template}"'
        if self.line is not None:
            where += f": line {self.line}"
            if self.column is not None:
                where += f", col {self.column}"
        return f"{where}: {self.message}"



class TemplateLimitError(TemplateError):
    """A template tried to build a value larger than the injector allows (a huge ``**`` or ``*``)."""
