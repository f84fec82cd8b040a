from django.db import migrations, models

# Environments that require a reason unless someone says otherwise (see projects.services).
REASON_REQUIRED_BY_DEFAULT = ("production", "prod")


def production_requires_a_reason(apps, schema_editor):
    apps.get_model("projects", "Environment").objects.filter(key__in=REASON_REQUIRED_BY_DEFAULT).update(
        require_reason=True
    )


class Migration(migrations.Migration):
    dependencies = [("projects", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="environment",
            name="require_reason",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Every change to a flag's state here (on/off, targeting) must say why. "
                    "On for production by default."
                ),
            ),
        ),
        migrations.RunPython(production_requires_a_reason, migrations.RunPython.noop),
    ]
