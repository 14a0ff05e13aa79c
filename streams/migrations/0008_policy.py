from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("streams", "0007_search")]

    operations = [
        migrations.CreateModel(
            name="Policy",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                ("enabled", models.BooleanField(default=True)),
                ("groups", models.TextField(help_text="The names of the groups it applies to, one a line.")),
                (
                    "clusters",
                    models.TextField(default="*", help_text="Cluster slugs or globs (* and ?), one a line."),
                ),
                ("actions", models.JSONField(blank=True, default=list)),
                (
                    "topics",
                    models.TextField(blank=True, help_text="Globs, one a line; empty: not covered. * covers all."),
                ),
                ("consumer_groups", models.TextField(blank=True)),
                ("subjects", models.TextField(blank=True, help_text="NATS subjects.")),
                ("streams", models.TextField(blank=True, help_text="JetStream streams (and their consumers).")),
                ("kv_buckets", models.TextField(blank=True)),
                ("object_buckets", models.TextField(blank=True)),
                ("schema_subjects", models.TextField(blank=True)),
                ("workers", models.TextField(blank=True, help_text="Managed consumers, by name.")),
                (
                    "cluster",
                    models.BooleanField(
                        default=False,
                        help_text="The cluster-level pages: brokers, ACLs, broker configs, server, connections.",
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"ordering": ["name"], "verbose_name_plural": "policies"},
        ),
    ]
