from django.db import migrations, models


def mark_action_request(apps, schema_editor):
    # The one action widget before the mark existed (widgets/actions.py).
    apps.get_model("widgets", "WidgetType").objects.filter(name="action_request").update(
        is_action=True
    )


class Migration(migrations.Migration):
    dependencies = [("widgets", "0002_widgettype_grounded_fields")]

    operations = [
        migrations.AddField(
            model_name="widgettype",
            name="is_action",
            field=models.BooleanField(
                default=False,
                help_text="An action card: its payload names an `action` and its `params`, and "
                "the user's Confirm runs it through the domain (nothing runs before that).",
            ),
        ),
        migrations.RunPython(mark_action_request, migrations.RunPython.noop),
    ]
