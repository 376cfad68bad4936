from django.db import migrations, models


def cut_off_replies_are_partial(apps, schema_editor):
    """Replies stored before this as done with an error (stopped, or broken off) were cut
    off: they say so now, and stay out of training sets like failed ones."""
    Message = apps.get_model("chat", "Message")
    cut_off = Message.objects.filter(role="assistant", status="done").exclude(error="")
    cut_off.exclude(raw="").update(status="partial")
    cut_off.filter(raw="").update(status="failed")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_correction_review"),
    ]

    operations = [
        migrations.AlterField(
            model_name="message",
            name="status",
            field=models.CharField(
                choices=[
                    ("streaming", "Streaming"),
                    ("done", "Done"),
                    ("partial", "Partial"),
                    ("failed", "Failed"),
                ],
                default="done",
                max_length=16,
            ),
        ),
        migrations.RunPython(cut_off_replies_are_partial, migrations.RunPython.noop),
    ]
