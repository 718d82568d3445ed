"""`tablechat workspace share|list|unshare` and `--workspace` on import and export, in a new process each."""

from test_dataio_cli import tablechat

from db import accounts, workspaces
from db.engine import transaction


async def test_share_then_import_and_export_by_workspace(database_url, engine, unique, tmp_path):
    async with transaction(None, engine=engine) as conn:
        ann = await accounts.create_account(conn, name=f"ann{unique}", password="secret-pw")
        await accounts.create_account(conn, name=f"sam{unique}", password="secret-pw")  # the one to share with
        home = await accounts.create_workspace(conn, owner_id=ann)
        team = await accounts.create_workspace(conn, owner_id=ann)
        await workspaces.touch(conn, ann, home["id"])  # the most recent is `home`
    src = tmp_path / "books.csv"
    src.write_text("Title\nDune\nEmma\n", encoding="utf-8")

    done = tablechat("import", str(src), "--user", f"ann{unique}", "--workspace", team["name"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    async with transaction(ann, engine=engine) as conn:
        assert [w["tables"] for w in await workspaces.list_mine(conn, ann) if w["id"] == team["id"]] == [1]

    shared = tablechat("workspace", "share", team["name"], f"sam{unique}", "--role", "viewer", cwd=tmp_path)
    assert shared.returncode == 0, shared.stderr.decode()
    assert f"sam{unique} is now viewer of {team['name']}" in shared.stdout.decode()
    listed = tablechat("workspace", "list", f"sam{unique}", cwd=tmp_path).stdout.decode()
    assert f"{team['name']}\tviewer\t1 tables" in listed and f"ann{unique} (owner)" in listed

    # the viewer reads it, but cannot import into it
    out = tablechat("export", "books", "--user", f"sam{unique}", "--workspace", team["name"], cwd=tmp_path)
    assert out.returncode == 0 and "Dune" in out.stdout.decode("utf-8-sig"), out.stderr.decode()
    refused = tablechat("import", str(src), "--user", f"sam{unique}", "--workspace", team["name"], cwd=tmp_path)
    assert refused.returncode == 1 and "only view" in refused.stderr.decode()
    nowhere = tablechat("export", "books", "--user", f"sam{unique}", "--workspace", "no-such-place", cwd=tmp_path)
    assert nowhere.returncode == 1 and "has no workspace" in nowhere.stderr.decode()

    # bad input: an unknown user, yourself, the last owner — each refused, nothing changed
    assert "No user" in tablechat("workspace", "share", team["name"], "nobody-here", "--role", "editor",
                                  cwd=tmp_path).stderr.decode()
    assert "yourself" in tablechat("workspace", "share", team["name"], f"ann{unique}", "--role", "viewer",
                                   cwd=tmp_path).stderr.decode()
    assert "one owner" in tablechat("workspace", "unshare", team["name"], f"ann{unique}",
                                    cwd=tmp_path).stderr.decode()
    gone = tablechat("workspace", "unshare", team["name"], f"sam{unique}", cwd=tmp_path)
    assert gone.returncode == 0, gone.stderr.decode()
    async with transaction(None, engine=engine) as conn:
        assert [m["name"] for m in await workspaces.members(conn, team["id"])] == [f"ann{unique}"]
