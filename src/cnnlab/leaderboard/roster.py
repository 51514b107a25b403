"""A course's roster: a CSV of students (student id, name, email) imported as users, and the CSV
of the new users' tokens handed back to the teacher.

Importing is idempotent: a student is known by their student id, so a second import of the
same roster creates nobody and changes no token; a corrected name or email is updated. The
tokens file is written in full before the users are committed, and put in place only after,
so a failure at either step loses no token and creates no user whose token nobody has."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from pathlib import Path

from sqlalchemy import Engine, select

from cnnlab.leaderboard.database import writing
from cnnlab.leaderboard.schema import User
from cnnlab.leaderboard.users import checked_email, checked_name, checked_student_id, new_token

# Header spellings seen in school systems' exports, after lower-casing and dropping
# spaces, '_' and '-'
COLUMNS = {"student_id": ("studentid", "id", "student", "studentnumber", "matriculation"),
           "name": ("name", "fullname", "studentname"),
           "email": ("email", "mail", "emailaddress")}
MAX_BYTES = 10 * 2**20
MAX_ERRORS = 10  # said at once, so a teacher fixes a file in one go


@dataclasses.dataclass(frozen=True)
class Student:
    student_id: str
    name: str
    email: str | None
    line: int  # in the roster file, for messages


@dataclasses.dataclass(frozen=True)
class Imported:
    student: Student
    action: str  # "created", "updated" or "unchanged"
    token: str | None  # the new user's, shown once


def _key(header: str) -> str:
    return "".join(c for c in header.lower() if c not in " _-")


def _columns(header: list[str], path: str) -> dict[str, int]:
    found = {}
    for index, title in enumerate(header):
        for column, spellings in COLUMNS.items():
            if _key(title) in spellings and column not in found:
                found[column] = index
    missing = [c for c in ("student_id", "name") if c not in found]
    if missing:
        raise ValueError(f"{path}: its first line must name the columns; found "
                         f"{', '.join(map(repr, header)) or 'nothing'}, expected student_id, "
                         f"name and (optional) email, in any order; missing: "
                         f"{', '.join(missing)}")
    return found


def read_roster(path: str) -> list[Student]:
    """The students of a CSV roster (UTF-8, with or without Excel's BOM; commas, semicolons or
    tabs), every problem in it reported at once with its line."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"roster {path}: no such file")
    if file.stat().st_size > MAX_BYTES:
        raise ValueError(f"roster {path}: {file.stat().st_size:,} bytes; a roster is at most "
                         f"{MAX_BYTES // 2**20} MiB")
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"roster {path}: not UTF-8 text (byte {error.start}); save it as "
                         "CSV UTF-8") from None
    first = text.partition("\n")[0]
    delimiter = max(",;\t", key=first.count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        raise ValueError(f"roster {path}: the file is empty")
    columns = _columns(rows[0], path)
    students, errors, seen = [], [], {}
    for line, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line, as spreadsheets leave at the end

        def cell(column, row=row):
            index = columns.get(column)
            return row[index] if index is not None and index < len(row) else ""

        try:
            student_id = checked_student_id(cell("student_id"))
            student = Student(student_id, checked_name(cell("name")),
                              checked_email(cell("email")), line)
        except ValueError as error:
            errors.append(f"line {line}: {error}")
            continue
        if student_id in seen:
            errors.append(f"line {line}: student id {student_id!r} is on line "
                          f"{seen[student_id]} too")
            continue
        seen[student_id] = line
        students.append(student)
    if errors:
        more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        raise ValueError(f"roster {path}: nothing imported; " +
                         "; ".join(errors[:MAX_ERRORS]) + more)
    if not students:
        raise ValueError(f"roster {path}: no student in it (only its header line)")
    return students


def _write_new(path: Path, text: str) -> None:
    """The file, readable by its owner only, whole or not at all."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def import_roster(engine: Engine, students: list[Student],
                  tokens_path: str) -> list[Imported]:
    """Create the students not yet users (each with a token written to `tokens_path`, which
    must not exist), update the names and emails that changed, leave the rest."""
    target = Path(tokens_path)
    if target.exists():
        raise ValueError(f"--tokens {tokens_path} exists already: it may hold the tokens of an "
                         "earlier import, which cannot be shown again; give another file")
    if not target.parent.is_dir():
        raise ValueError(f"--tokens {tokens_path}: no folder {target.parent}")
    partial = target.with_name(f".{target.name}.partial")
    if partial.exists():
        raise ValueError(f"{partial} is left from an interrupted import: it holds the tokens of "
                         "the users it created, if that import was committed; move it away")
    results, committed = [], False
    try:
        with writing(engine) as session:
            known = {u.student_id: u for u in session.scalars(
                select(User).where(User.student_id.is_not(None)))}
            for student in students:
                user = known.get(student.student_id)
                if user is None:
                    token, digest = new_token()
                    session.add(User(name=student.name, student_id=student.student_id,
                                     email=student.email, token_hash=digest))
                    results.append(Imported(student, "created", token))
                elif (user.name, user.email) != (student.name, student.email):
                    user.name, user.email = student.name, student.email
                    results.append(Imported(student, "updated", None))
                else:
                    results.append(Imported(student, "unchanged", None))
            created = [r for r in results if r.token]
            if created:  # before the commit: a user is never made whose token is lost
                _write_new(partial, tokens_csv(created))
        committed = True
    finally:
        if not committed:
            partial.unlink(missing_ok=True)
    if created:
        os.replace(partial, target)
    return results


def tokens_csv(created: list[Imported]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student_id", "name", "email", "token"])
    for result in created:
        student = result.student
        writer.writerow([student.student_id, student.name, student.email or "",
                         result.token])
    return out.getvalue()
