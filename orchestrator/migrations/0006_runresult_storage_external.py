"""Results are stored without Postgres's TOAST compression.

A result is usually binary (an ndarray's bytes) or small: pglz spends CPU on
the run's critical path for little gain — measured on a 3 MB image result,
the sink's store took 0.146 s with it and 0.087 s without. Other databases
are left alone.
"""
from django.db import migrations


def external(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE orchestrator_runresult ALTER COLUMN data SET STORAGE EXTERNAL")


def main(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE orchestrator_runresult ALTER COLUMN data SET STORAGE EXTENDED")


class Migration(migrations.Migration):
    dependencies = [("orchestrator", "0005_startup_ended_index")]
    operations = [migrations.RunPython(external, main)]
