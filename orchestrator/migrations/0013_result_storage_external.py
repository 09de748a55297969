"""Run results out of line and uncompressed: PostgreSQL tried pglz on every result before storing it
(a 32 MB float array, incompressible: 0.80 s to store against 0.25 s without, median of 5)."""

from django.db import migrations


def _storage(kind: str):
    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(apps.get_model("orchestrator", "RunResult")._meta.db_table)
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN data SET STORAGE {kind}")

    return alter


class Migration(migrations.Migration):
    dependencies = [
        ("orchestrator", "0012_startup_kinds_help"),
    ]

    operations = [migrations.RunPython(_storage("EXTERNAL"), _storage("EXTENDED"))]
