"""`cnnlab leaderboard add-user|add-users|list-users|reset-token|disable-user`: the course's
roster and its tokens."""

from __future__ import annotations

from cnnlab.cli.board_options import open_board, require_extra, with_db


def _add_user(args) -> int:
    require_extra()
    from cnnlab.leaderboard.users import add_user

    token = add_user(open_board(args), args.name, args.student_id, args.email, args.admin)
    who = "admin" if args.admin else "user"
    print(f"{who} {args.name.strip()} created; their token (shown once, stored hashed):")
    print(token)
    return 0


def _add_users(args) -> int:
    require_extra()
    from cnnlab.leaderboard.roster import import_roster, read_roster

    results = import_roster(open_board(args), read_roster(args.roster), args.tokens)
    count = {action: sum(r.action == action for r in results)
             for action in ("created", "updated", "unchanged")}
    print(f"{args.roster}: {len(results)} students; {count['created']} created, "
          f"{count['updated']} updated (name or email), {count['unchanged']} unchanged")
    for result in results:
        if result.action == "updated":
            print(f"  updated {result.student.student_id}: {result.student.name}")
    if count["created"]:
        print(f"the new students' tokens are in {args.tokens} (readable by you only; each "
              "token is shown this once: hand them out and keep the file safe)")
    else:
        print("no new student, so no tokens file was written (reset-token gives one "
              "student a new token)")
    return 0


def _list_users(args) -> int:
    require_extra()
    from cnnlab.leaderboard.users import list_users

    users = list_users(open_board(args))
    if not users:
        print("no users yet: add-users ROSTER.csv, or add-user NAME")
        return 0
    table = [("#", "student id", "name", "email", "role", "state", "submissions")] + [
        (f"#{u['id']}", u["student_id"] or "-", u["name"], u["email"] or "-",
         "admin" if u["admin"] else "student", "disabled" if u["disabled"] else "active",
         str(u["submissions"])) for u in users]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


def _reset_token(args) -> int:
    require_extra()
    from cnnlab.leaderboard.users import reset_token

    user, token = reset_token(open_board(args), args.user)
    print(f"#{user.id} {user.name}: new token below (shown once); the old one no longer "
          "works")
    print(token)
    return 0


def _disable_user(args) -> int:
    require_extra()
    from cnnlab.leaderboard.users import set_disabled

    user = set_disabled(open_board(args), args.user, not args.enable)
    if args.enable:
        print(f"#{user.id} {user.name}: enabled; their token works and they are ranked again")
    else:
        print(f"#{user.id} {user.name}: disabled; their token is refused and they are not "
              "ranked (their submissions are kept; --enable undoes it)")
    return 0


def add_roster_actions(actions) -> None:
    """The roster's actions, among `cnnlab leaderboard`'s."""
    user = with_db(actions.add_parser("add-user", help="create a user; prints their token"))
    user.add_argument("name")
    user.add_argument("--student-id", help="their student id (two students may share a name, "
                                           "never an id)")
    user.add_argument("--email")
    user.add_argument("--admin", action="store_true",
                      help="a teacher: the token opens the grades; admins are not ranked")
    user.set_defaults(handler=_add_user)

    users = with_db(actions.add_parser(
        "add-users", help="import a roster CSV; writes the new students' tokens",
        description="Import the students of a CSV roster whose first line names its columns: "
                    "student_id, name and (optional) email, in any order (commas, semicolons "
                    "or tabs; UTF-8). A student is known by their student id, so importing "
                    "again creates nobody and changes no token (a changed name or email is "
                    "updated). The new students' tokens go to --tokens, a file that must not "
                    "exist yet, readable by you only."))
    users.add_argument("roster", metavar="ROSTER.csv")
    users.add_argument("--tokens", metavar="FILE.csv", required=True,
                       help="where to write student_id,name,email,token of the new students")
    users.set_defaults(handler=_add_users)

    listing = with_db(actions.add_parser("list-users", help="list the users"))
    listing.set_defaults(handler=_list_users)

    def with_user(parser):
        parser.add_argument("user", metavar="USER",
                            help="a student id, a name only one user has, or #N as list-users "
                                 "shows")
        return parser

    reset = with_user(with_db(actions.add_parser(
        "reset-token", help="give a user a new token; the old one stops working")))
    reset.set_defaults(handler=_reset_token)
    disable = with_user(with_db(actions.add_parser(
        "disable-user", help="refuse a user's token and leave them out of the ranking")))
    disable.add_argument("--enable", action="store_true", help="undo it")
    disable.set_defaults(handler=_disable_user)
